/* placeholder: implemented in its own change */
#include "sign.h"
