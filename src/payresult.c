/* placeholder: implemented in its own change */
#include "payresult.h"
