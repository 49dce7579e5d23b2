#include "samsa/producer_state.h"
