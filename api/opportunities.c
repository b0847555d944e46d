/*
 * Opportunities (R21, R22).
 */
#include "api.h"
