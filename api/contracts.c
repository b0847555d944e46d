/*
 * Contracts and their approval (R26).
 */
#include "api.h"
