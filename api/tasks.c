/*
 * Tasks and the caller's agenda (R24).
 */
#include "api.h"
