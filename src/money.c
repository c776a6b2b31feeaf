/* placeholder: implemented in its own change */
#include "money.h"
