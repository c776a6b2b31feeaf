/* placeholder: implemented in its own change */
#include "keys.h"
