/* placeholder: implemented in its own change */
#include "timeutil.h"
