#include "samsa/partition.h"
