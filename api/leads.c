/*
 * Leads (R20).
 */
#include "api.h"
