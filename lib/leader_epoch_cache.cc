#include "samsa/leader_epoch_cache.h"
