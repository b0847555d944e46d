/*
 * The product catalogue (R25).
 */
#include "api.h"
