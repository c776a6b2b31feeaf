/* placeholder: implemented in its own change */
#include "msg.h"
