// The Cleaner (log compaction): to be written.
#include "samsa/log.h"
