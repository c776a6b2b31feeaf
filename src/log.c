/* placeholder: implemented in its own change */
#include "log.h"
