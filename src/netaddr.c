/* placeholder: implemented in its own change */
#include "netaddr.h"
