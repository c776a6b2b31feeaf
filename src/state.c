/* placeholder: implemented in its own change */
#include "state.h"
