/* placeholder: implemented in its own change */
#include "config.h"
