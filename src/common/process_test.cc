#include "common/process.h"

#include <gtest/gtest.h>

#include <thread>

#include "common/file.h"

namespace kubeos {
namespace {

using std::chrono::milliseconds;

TEST(RunProgramTest, CapturesOutputAndExitCode) {
  auto r = RunProgram({"sh", "-c", "echo out; echo err >&2; exit 3"}, milliseconds(5000));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_NE(r->output.find("out"), std::string::npos);
  EXPECT_NE(r->output.find("err"), std::string::npos);
}

TEST(RunProgramTest, ArgumentsAreNotInterpretedByAShell) {
  auto r = RunProgram({"echo", "$(id)", ";", "*"}, milliseconds(5000));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->output, "$(id) ; *\n");
}

TEST(RunProgramTest, MissingProgramIsNotFound) {
  auto r = RunProgram({"/nonexistent/program"}, milliseconds(5000));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

TEST(RunProgramTest, TimeoutKillsTheChild) {
  auto start = std::chrono::steady_clock::now();
  auto r = RunProgram({"sleep", "30"}, milliseconds(200));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(ProcessTest, StopEscalatesToSigkill) {
  auto dir = TempDir::Create("proc-test");
  ASSERT_TRUE(dir.ok());
  SpawnOptions o;
  o.argv = {"sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"};
  o.output_file = dir->path() / "out.log";
  auto p = Process::Spawn(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  // Wait until the shell ignores SIGTERM, or the test would race the trap.
  for (int i = 0; i < 500 && ReadFile(o.output_file).value_or("").find("ready") == std::string::npos; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_TRUE(p->Running());
  EXPECT_TRUE(p->Stop(milliseconds(200)).ok());
  EXPECT_FALSE(p->Running());
  EXPECT_EQ(p->ExitCode(), 128 + 9);
}

TEST(ProcessTest, EnvironmentIsPassed) {
  auto dir = TempDir::Create("proc-test");
  ASSERT_TRUE(dir.ok());
  SpawnOptions o;
  o.argv = {"sh", "-c", "printf %s \"$KUBEOS_TEST_VALUE\""};
  o.env = {{"KUBEOS_TEST_VALUE", "a b"}};
  o.output_file = dir->path() / "out.log";
  auto p = Process::Spawn(o);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->Wait(), 0);
  auto text = ReadFile(dir->path() / "out.log");
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "a b");
}

}  // namespace
}  // namespace kubeos
