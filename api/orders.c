/*
 * Orders, subscriptions and deliveries (R27).
 */
#include "api.h"
