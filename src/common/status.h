// Status and StatusOr<T>: the one error type of the project (see design/STYLE.md, "Errors").
//
// A Status is a code, a message and an optional retry hint. Codes are few and tied to a retry policy:
//   kUnavailable, kDeadlineExceeded  -> retry with backoff
//   kConflict                        -> re-read and retry now
//   kFailedPrecondition              -> wait for the state to change
//   kInvalidArgument                 -> terminal: report, do not retry
//   kDataLoss, kInternal             -> alert
// Context is added as an error rises with WithContext("write slot B"), giving "write slot B: <message>".
// Thread-safety: values; no shared state.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace kubeos {

enum class StatusCode {
  kOk = 0,
  kCancelled,
  kUnknown,
  kInvalidArgument,
  kDeadlineExceeded,
  kNotFound,
  kAlreadyExists,
  kPermissionDenied,
  kUnauthenticated,
  kResourceExhausted,  // e.g. HTTP 429 Too Many Requests; see retry_after()
  kFailedPrecondition,
  kConflict,  // optimistic-concurrency conflict (HTTP 409 with reason Conflict)
  kGone,      // the requested resourceVersion is too old (HTTP 410): relist
  kUnimplemented,
  kInternal,
  kUnavailable,
  kDataLoss,
  kBusy,  // another exclusive operation is running
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Server-suggested delay before retrying (Retry-After), if any.
  std::optional<std::chrono::milliseconds> retry_after() const { return retry_after_; }
  Status& set_retry_after(std::chrono::milliseconds d) {
    retry_after_ = d;
    return *this;
  }

  // Returns a copy whose message is prefixed by "context: ".
  Status WithContext(std::string_view context) const&;
  Status WithContext(std::string_view context) &&;

  // "NotFound: nodes \"n1\" not found" (or "OK").
  std::string ToString() const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::optional<std::chrono::milliseconds> retry_after_;
};

// Factories, one per code that callers produce.
Status InvalidArgumentError(std::string message);
Status NotFoundError(std::string message);
Status AlreadyExistsError(std::string message);
Status FailedPreconditionError(std::string message);
Status ConflictError(std::string message);
Status UnavailableError(std::string message);
Status DeadlineExceededError(std::string message);
Status InternalError(std::string message);
Status DataLossError(std::string message);
Status PermissionDeniedError(std::string message);
Status UnimplementedError(std::string message);
Status CancelledError(std::string message);
Status BusyError(std::string message);

// errno -> Status, naming the operation and the file ("open /etc/x: No such file or directory").
Status ErrnoError(int err, std::string_view what);

// StatusOr<T>: a value or a non-OK Status. Modelled on absl::StatusOr / std::expected.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : v_(std::move(value)) {}        // NOLINT(google-explicit-constructor): like absl
  StatusOr(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (std::get<Status>(v_).ok()) v_ = Status(StatusCode::kInternal, "StatusOr constructed from OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T value_or(T fallback) const& { return ok() ? std::get<T>(v_) : std::move(fallback); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace kubeos

// Propagate a non-OK Status from an expression returning Status.
#define KUBEOS_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::kubeos::Status kubeos_status_ = (expr);        \
    if (!kubeos_status_.ok()) return kubeos_status_; \
  } while (false)

#define KUBEOS_CONCAT_INNER_(a, b) a##b
#define KUBEOS_CONCAT_(a, b) KUBEOS_CONCAT_INNER_(a, b)
// KUBEOS_ASSIGN_OR_RETURN(auto x, Foo()); declares x from a StatusOr or returns its error.
#define KUBEOS_ASSIGN_OR_RETURN(lhs, expr) \
  KUBEOS_ASSIGN_OR_RETURN_IMPL_(KUBEOS_CONCAT_(kubeos_statusor_, __LINE__), lhs, expr)
// NOLINTBEGIN(bugprone-macro-parentheses): `lhs` is a declaration and `tmp` a name; neither can be
// parenthesized.
#define KUBEOS_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)

// Crash on a broken invariant (never on the environment: that is a Status).
#define KUBEOS_CHECK(cond)                                                   \
  do {                                                                       \
    if (!(cond)) ::kubeos::internal::CheckFailed(#cond, __FILE__, __LINE__); \
  } while (false)

namespace kubeos::internal {
[[noreturn]] void CheckFailed(const char* cond, const char* file, int line);
}  // namespace kubeos::internal
