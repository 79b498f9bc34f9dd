// Secret files: what every password and key of the platform is read from. Only a private file
// with one line is used; the error names the file and the reason, never the secret.

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/secret_file.hpp"

namespace {

using flashsale::read_secret_file;
using flashsale::secret_file_error;

class secret_file_test : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() /
            ("flashsale-secret-" + std::to_string(::getpid())))
               .string();
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text, mode_t mode = 0600) {
    auto path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << text;
    ::chmod(path.c_str(), mode);
    return path;
  }

  /// The message of the secret_file_error reading `path` throws ("" if it does not throw).
  static std::string refusal(const std::string& path) {
    try {
      read_secret_file(path, "password file");
    } catch (const secret_file_error& e) {
      return e.what();
    }
    return "";
  }

  std::string dir_;
};

TEST_F(secret_file_test, the_line_is_read_without_its_newline) {
  EXPECT_EQ(read_secret_file(write("a", "s3cret: with spaces\n")), "s3cret: with spaces");
  EXPECT_EQ(read_secret_file(write("b", "no-newline", 0400)), "no-newline");
  EXPECT_EQ(read_secret_file(write("c", std::string(1024, 'x'))).size(), 1024u);
}

TEST_F(secret_file_test, a_file_others_may_read_or_change_is_refused) {
  auto path = write("open", "s3cret\n", 0640);
  auto why = refusal(path);
  EXPECT_EQ(why,
            "password file " + path + ": mode 640 lets others read or change it; chmod 600 it");
  EXPECT_EQ(why.find("s3cret"), std::string::npos) << "never shows the secret";
  EXPECT_NE(refusal(write("world", "s3cret\n", 0602)), "");
}

TEST_F(secret_file_test, anything_but_one_short_line_is_refused) {
  EXPECT_NE(refusal(dir_ + "/missing").find("No such file or directory"), std::string::npos);
  EXPECT_NE(refusal(dir_).find("not a regular file"), std::string::npos);
  EXPECT_NE(refusal(write("empty", "")).find("is empty"), std::string::npos);
  EXPECT_NE(refusal(write("newline", "\n")).find("is empty"), std::string::npos);
  EXPECT_NE(refusal(write("two", "one\ntwo\n")).find("a single line"), std::string::npos);
  EXPECT_NE(refusal(write("crlf", "one\r\n")).find("a single line"), std::string::npos);
  EXPECT_NE(refusal(write("long", std::string(1025, 'x'))).find("more than 1,024"),
            std::string::npos);
}

}  // namespace
