/*
 * Activities, the sales daily log (R23).
 */
#include "api.h"
