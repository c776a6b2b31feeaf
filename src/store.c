/* placeholder: implemented in its own change */
#include "store.h"
