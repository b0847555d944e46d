/*
 * Quotes built from catalogue lines (R25).
 */
#include "api.h"
