#ifndef PATROLHUB_CMOSQUITTO_SHIM_H
#define PATROLHUB_CMOSQUITTO_SHIM_H
#include <mosquitto.h>
#endif
