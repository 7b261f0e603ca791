// GoogleTest support for integration tests: one control plane per test binary, started before the first test
// and stopped after the last. Each integration test binary defines TestClusterOptions() to say which
// components it needs, and reaches the cluster through TestCluster().
//
// Set KUBEOS_TEST_CLUSTER_DIR to the directory of a control plane started with `hack/cluster up` to reuse it
// instead (faster edit-run cycles; the binary then does not stop it).
#pragma once

#include "harness/control_plane.h"

namespace kubeos::testing {

// Defined by each integration test binary.
ControlPlaneOptions TestClusterOptions();

// The shared control plane; valid between the environment's SetUp and TearDown.
ControlPlane& TestCluster();

// A namespace name unique to the running test ("t-<suite>-<test>-<n>", DNS-1123 safe).
std::string UniqueTestNamespace();

}  // namespace kubeos::testing
