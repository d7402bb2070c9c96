// Status and Result<T>: how corepin reports failure without exceptions.
//
// An Error carries a category (which maps to an HTTP status at the API edge) and a message
// written for the operator: it names the field or object, the value, and what to do.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace corepin {

enum class ErrorCode {
  kInvalid = 400,       // the request itself is wrong (bad field, bad value)
  kNotFound = 404,      // names an object that does not exist
  kConflict = 409,      // clashes with existing state (duplicate name, host in use)
  kUnprocessable = 422, // well-formed, but cannot be done here (does not fit, host unreachable)
  kNotImplemented = 501, // understood, but corepin cannot do it yet
  kUnavailable = 503,   // a dependency failed (libvirt call failed mid-way)
  kInternal = 500,
};

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
};

inline Error Invalid(std::string m) { return {ErrorCode::kInvalid, std::move(m)}; }
inline Error NotFound(std::string m) { return {ErrorCode::kNotFound, std::move(m)}; }
inline Error Conflict(std::string m) { return {ErrorCode::kConflict, std::move(m)}; }
inline Error Unprocessable(std::string m) { return {ErrorCode::kUnprocessable, std::move(m)}; }
inline Error NotImplemented(std::string m) { return {ErrorCode::kNotImplemented, std::move(m)}; }
inline Error Unavailable(std::string m) { return {ErrorCode::kUnavailable, std::move(m)}; }
inline Error Internal(std::string m) { return {ErrorCode::kInternal, std::move(m)}; }

// Result<T> holds either a value or an Error.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}           // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}       // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Status is a Result with no value.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error e) : err_(std::move(e)), ok_(false) {}  // NOLINT
  static Status Ok() { return {}; }
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return err_; }

 private:
  Error err_;
  bool ok_ = true;
};

}  // namespace corepin
