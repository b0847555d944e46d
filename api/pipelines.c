/*
 * Pipelines and their stages (R21).
 */
#include "api.h"
