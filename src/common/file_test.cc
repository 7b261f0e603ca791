#include "common/file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

namespace kubeos {
namespace {

TEST(WriteFileAtomicTest, CreatesReplacesAndKeepsMode) {
  auto dir = TempDir::Create("file-test");
  ASSERT_TRUE(dir.ok());
  auto path = dir->path() / "config";
  ASSERT_TRUE(WriteFileAtomic(path, "one\n", {.mode = 0600}).ok());
  EXPECT_EQ(*ReadFile(path), "one\n");
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600U);

  ASSERT_TRUE(WriteFileAtomic(path, "two\n", {.mode = 0644}).ok());
  EXPECT_EQ(*ReadFile(path), "two\n");
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600U) << "existing mode must be kept";

  // No temporary files are left behind.
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir->path())) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1);
}

TEST(WriteFileAtomicTest, MissingDirectoryIsAnErrorNamingIt) {
  Status s = WriteFileAtomic("/nonexistent-dir/x", "data");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("/nonexistent-dir"), std::string::npos);
}

TEST(TempDirTest, RemovedOnDestruction) {
  std::filesystem::path p;
  {
    auto dir = TempDir::Create("file-test");
    ASSERT_TRUE(dir.ok());
    p = dir->path();
    ASSERT_TRUE(WriteFileAtomic(p / "f", "x").ok());
  }
  EXPECT_FALSE(std::filesystem::exists(p));
}

}  // namespace
}  // namespace kubeos
