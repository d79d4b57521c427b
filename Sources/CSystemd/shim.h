#ifndef FWDWATCH_CSYSTEMD_SHIM_H
#define FWDWATCH_CSYSTEMD_SHIM_H
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#endif
