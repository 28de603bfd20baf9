// Orders and payment end to end (being written).
#include <gtest/gtest.h>
