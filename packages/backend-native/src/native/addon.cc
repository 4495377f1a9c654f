// Node-API glue: each function takes the JS typed arrays and hands their own memory to the
// kernels (napi_get_typedarray_info gives the data pointer, byte offset applied), so no
// operand or result is copied. Arguments are checked here, since a kernel trusts its sizes:
// a wrong type or a short array throws a TypeError/RangeError instead of reading or writing
// out of bounds. Everything runs synchronously on the calling JS thread (and, for large
// products, one worker thread that the call waits for), so the arrays stay put meanwhile.
#include <node_api.h>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <type_traits>
#include <utility>
#include "kernels.h"

namespace {

constexpr int FLAG_TWO_THREADS = 1;
constexpr int FLAG_PORTABLE = 2;
constexpr int FLAG_ALWAYS_TWO = 4;  // with FLAG_TWO_THREADS: split even while the second core is busy
constexpr int FLAG_REFERENCE_GEMM = 8;  // float32 matmul: the reference paths (tests: the same bits)
constexpr int FLAG_AVX2_KERNELS = 16;  // the AVX2 set even where the CPU has AVX-512 (tests, A/B timing)

template <typename T>
struct Typed {
  T* data = nullptr;
  int64_t length = 0;
};
using F32 = Typed<float>;
using F64 = Typed<double>;

bool fail(napi_env env, bool range, const char* fn, const char* what) {
  char message[256];
  std::snprintf(message, sizeof message, "tapegrad native %s: %s", fn, what);
  if (range) napi_throw_range_error(env, "ERR_TAPEGRAD_NATIVE", message);
  else napi_throw_type_error(env, "ERR_TAPEGRAD_NATIVE", message);
  return false;
}

template <typename T>
bool getTyped(napi_env env, napi_value v, const char* fn, const char* name, Typed<T>* out) {
  constexpr bool f64 = std::is_same_v<T, double>;
  const char* kind = f64 ? "Float64Array" : "Float32Array";
  bool isTyped = false;
  napi_is_typedarray(env, v, &isTyped);
  char what[128];
  if (!isTyped) {
    std::snprintf(what, sizeof what, "%s must be a %s", name, kind);
    return fail(env, false, fn, what);
  }
  napi_typedarray_type type;
  size_t length;
  void* data;
  napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr);
  if (type != (f64 ? napi_float64_array : napi_float32_array)) {
    std::snprintf(what, sizeof what, "%s must be a %s", name, kind);
    return fail(env, false, fn, what);
  }
  out->data = static_cast<T*>(data);
  out->length = static_cast<int64_t>(length);
  return true;
}

bool getF32(napi_env env, napi_value v, const char* fn, const char* name, F32* out) { return getTyped(env, v, fn, name, out); }

// true if v is a Float64Array (matmul's operands are then all float64)
bool isFloat64Array(napi_env env, napi_value v) {
  bool isTyped = false;
  napi_is_typedarray(env, v, &isTyped);
  if (!isTyped) return false;
  napi_typedarray_type type;
  size_t length;
  void* data;
  napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr);
  return type == napi_float64_array;
}

struct I32 {
  const int32_t* data = nullptr;
  int64_t length = 0;
};

bool getI32(napi_env env, napi_value v, const char* fn, const char* name, I32* out) {
  bool isTyped = false;
  napi_is_typedarray(env, v, &isTyped);
  napi_typedarray_type type = napi_float32_array;
  size_t length = 0;
  void* data = nullptr;
  if (isTyped) napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr);
  if (!isTyped || type != napi_int32_array) {
    char what[128];
    std::snprintf(what, sizeof what, "%s must be an Int32Array", name);
    return fail(env, false, fn, what);
  }
  out->data = static_cast<const int32_t*>(data);
  out->length = static_cast<int64_t>(length);
  return true;
}

// Every offset puts a whole matrix of `size` elements inside x: 0 ≤ offset ≤ length − size.
// Sets [lo, hi) to the elements the batch reads (for the overlap check).
template <typename T>
bool offsetsInside(napi_env env, const char* fn, const char* offsetsName, const I32& offsets, const char* name, const Typed<T>& x,
                   int64_t size, int64_t* lo, int64_t* hi) {
  *lo = x.length;
  *hi = 0;
  for (int64_t i = 0; i < offsets.length; i++) {
    const int64_t o = offsets.data[i];
    if (o < 0 || o + size > x.length) {
      char what[200];
      std::snprintf(what, sizeof what, "%s[%lld] = %lld puts a %lld-element matrix at [%lld, %lld), outside %s's %lld elements", offsetsName,
                    static_cast<long long>(i), static_cast<long long>(o), static_cast<long long>(size), static_cast<long long>(o),
                    static_cast<long long>(o + size), name, static_cast<long long>(x.length));
      return fail(env, true, fn, what);
    }
    if (o < *lo) *lo = o;
    if (o + size > *hi) *hi = o + size;
  }
  return true;
}

bool getInt(napi_env env, napi_value v, const char* fn, const char* name, int64_t* out) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  char what[128];
  if (t != napi_number) {
    std::snprintf(what, sizeof what, "%s must be a number", name);
    return fail(env, false, fn, what);
  }
  double d;
  napi_get_value_double(env, v, &d);
  if (!(d >= 0 && d <= 2147483647.0) || d != static_cast<double>(static_cast<int64_t>(d))) {
    std::snprintf(what, sizeof what, "%s must be an integer in [0, 2³¹), got %g", name, d);
    return fail(env, true, fn, what);
  }
  *out = static_cast<int64_t>(d);
  return true;
}

bool getDouble(napi_env env, napi_value v, double* out) {
  return napi_get_value_double(env, v, out) == napi_ok;
}

bool getBool(napi_env env, napi_value v) {
  bool b = false;
  napi_value coerced;
  if (napi_coerce_to_bool(env, v, &coerced) == napi_ok) napi_get_value_bool(env, coerced, &b);
  return b;
}

template <typename T>
bool needLength(napi_env env, const char* fn, const char* name, const Typed<T>& x, int64_t need) {
  if (x.length >= need) return true;
  char what[160];
  std::snprintf(what, sizeof what, "%s has %lld elements, needs %lld", name, static_cast<long long>(x.length), static_cast<long long>(need));
  return fail(env, true, fn, what);
}

template <typename T>
bool overlap(const T* p, int64_t n, const T* q, int64_t m) {
  return n > 0 && m > 0 && p < q + m && q < p + n;
}

napi_value args(napi_env env, napi_callback_info info, size_t expected, napi_value* argv, const char* fn) {
  size_t argc = expected;
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < expected) {
    char what[96];
    std::snprintf(what, sizeof what, "expects %zu arguments, got %zu", expected, argc);
    fail(env, false, fn, what);
    return nullptr;
  }
  napi_value ok;
  napi_get_boolean(env, true, &ok);
  return ok;
}

napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// matmul(a, b, out, m, k, n, transposeA, transposeB, flags): all three Float32Arrays, or
// (a a Float64Array) all three Float64Arrays
template <typename T>
napi_value MatmulOf(napi_env env, napi_value* argv) {
  const char* fn = "matmul";
  Typed<T> a, b, c;
  int64_t m, k, n, flags;
  if (!getTyped(env, argv[0], fn, "a", &a) || !getTyped(env, argv[1], fn, "b", &b) || !getTyped(env, argv[2], fn, "out", &c)) return nullptr;
  if (!getInt(env, argv[3], fn, "m", &m) || !getInt(env, argv[4], fn, "k", &k) || !getInt(env, argv[5], fn, "n", &n) ||
      !getInt(env, argv[8], fn, "flags", &flags)) return nullptr;
  const bool tA = getBool(env, argv[6]), tB = getBool(env, argv[7]);
  if (!needLength(env, fn, "a", a, m * k) || !needLength(env, fn, "b", b, k * n) || !needLength(env, fn, "out", c, m * n)) return nullptr;
  if (overlap(c.data, m * n, a.data, m * k) || overlap(c.data, m * n, b.data, k * n)) {
    fail(env, true, fn, "out must not share memory with a or b");
    return nullptr;
  }
  const tg::KernelSet& ks = (flags & FLAG_REFERENCE_GEMM) ? tg::referenceGemmKernels(tg::kernels(flags & FLAG_PORTABLE, flags & FLAG_AVX2_KERNELS)) : tg::kernels(flags & FLAG_PORTABLE, flags & FLAG_AVX2_KERNELS);
  const int threads = (flags & FLAG_TWO_THREADS) ? ((flags & FLAG_ALWAYS_TWO) ? 3 : 2) : 1;
  if constexpr (std::is_same_v<T, double>)
    tg::dgemm(ks, a.data, tA ? 1 : k, tA ? m : 1, b.data, tB ? 1 : n, tB ? k : 1, c.data, n, m, k, n, threads);
  else
    tg::sgemm(ks, a.data, tA ? 1 : k, tA ? m : 1, b.data, tB ? 1 : n, tB ? k : 1, c.data, n, m, k, n, threads);
  return undefined(env);
}

napi_value Matmul(napi_env env, napi_callback_info info) {
  napi_value argv[9];
  if (!args(env, info, 9, argv, "matmul")) return nullptr;
  return isFloat64Array(env, argv[0]) ? MatmulOf<double>(env, argv) : MatmulOf<float>(env, argv);
}

// matmulBatched(a, b, out, m, k, n, transposeA, transposeB, aOffsets, bOffsets, flags):
// out[i·m·n …] = op(A_i)·op(B_i), A_i at a[aOffsets[i]], B_i at b[bOffsets[i]]. Every offset
// is checked before anything is read or written.
// Float32Arrays or Float64Arrays, as matmul.
template <typename T>
napi_value MatmulBatchedOf(napi_env env, napi_value* argv) {
  const char* fn = "matmulBatched";
  Typed<T> a, b, c;
  I32 aOffsets, bOffsets;
  int64_t m, k, n, flags;
  if (!getTyped(env, argv[0], fn, "a", &a) || !getTyped(env, argv[1], fn, "b", &b) || !getTyped(env, argv[2], fn, "out", &c)) return nullptr;
  if (!getInt(env, argv[3], fn, "m", &m) || !getInt(env, argv[4], fn, "k", &k) || !getInt(env, argv[5], fn, "n", &n) ||
      !getI32(env, argv[8], fn, "aOffsets", &aOffsets) || !getI32(env, argv[9], fn, "bOffsets", &bOffsets) ||
      !getInt(env, argv[10], fn, "flags", &flags)) return nullptr;
  const bool tA = getBool(env, argv[6]), tB = getBool(env, argv[7]);
  const int64_t count = aOffsets.length;
  if (bOffsets.length != count) {
    char what[128];
    std::snprintf(what, sizeof what, "aOffsets has %lld entries but bOffsets %lld", static_cast<long long>(count),
                  static_cast<long long>(bOffsets.length));
    return fail(env, true, fn, what), nullptr;
  }
  int64_t aLo, aHi, bLo, bHi;
  if (!offsetsInside(env, fn, "aOffsets", aOffsets, "a", a, m * k, &aLo, &aHi) ||
      !offsetsInside(env, fn, "bOffsets", bOffsets, "b", b, k * n, &bLo, &bHi) ||
      !needLength(env, fn, "out", c, count * m * n)) return nullptr;
  if (overlap(c.data, count * m * n, a.data + aLo, aHi - aLo) || overlap(c.data, count * m * n, b.data + bLo, bHi - bLo)) {
    fail(env, true, fn, "out must not share memory with a or b");
    return nullptr;
  }
  const tg::KernelSet& ks = (flags & FLAG_REFERENCE_GEMM) ? tg::referenceGemmKernels(tg::kernels(flags & FLAG_PORTABLE, flags & FLAG_AVX2_KERNELS)) : tg::kernels(flags & FLAG_PORTABLE, flags & FLAG_AVX2_KERNELS);
  const int threads = (flags & FLAG_TWO_THREADS) ? ((flags & FLAG_ALWAYS_TWO) ? 3 : 2) : 1;
  if constexpr (std::is_same_v<T, double>)
    tg::dgemmBatched(ks, a.data, tA ? 1 : k, tA ? m : 1, aOffsets.data, b.data, tB ? 1 : n, tB ? k : 1, bOffsets.data, c.data, count, m, k,
                     n, threads);
  else
    tg::sgemmBatched(ks, a.data, tA ? 1 : k, tA ? m : 1, aOffsets.data, b.data, tB ? 1 : n, tB ? k : 1, bOffsets.data, c.data, count, m, k,
                     n, threads);
  return undefined(env);
}

napi_value MatmulBatched(napi_env env, napi_callback_info info) {
  napi_value argv[11];
  if (!args(env, info, 11, argv, "matmulBatched")) return nullptr;
  return isFloat64Array(env, argv[0]) ? MatmulBatchedOf<double>(env, argv) : MatmulBatchedOf<float>(env, argv);
}

// unary(op, x, out, scalar, flags): out may be x itself. Float32Arrays, or Float64Arrays for
// the kernels js computes exactly (elementwise.h: the others throw)
template <typename T>
napi_value UnaryOf(napi_env env, napi_value* argv) {
  const char* fn = "unary";
  int64_t op, flags;
  Typed<T> x, out;
  double scalar = 0;
  if (!getInt(env, argv[0], fn, "op", &op) || !getTyped(env, argv[1], fn, "x", &x) || !getTyped(env, argv[2], fn, "out", &out) ||
      !getInt(env, argv[4], fn, "flags", &flags)) return nullptr;
  getDouble(env, argv[3], &scalar);
  if (op >= tg::U_COUNT) return fail(env, true, fn, "unknown kernel"), nullptr;
  if (!needLength(env, fn, "out", out, x.length)) return nullptr;
  if (out.data != x.data && overlap(out.data, x.length, x.data, x.length)) return fail(env, true, fn, "out overlaps x without being x"), nullptr;
  const tg::KernelSet& ks = tg::kernels(flags & FLAG_PORTABLE, flags & FLAG_AVX2_KERNELS);
  if constexpr (std::is_same_v<T, double>) {
    if (!ks.f64->unary(static_cast<int>(op), x.data, out.data, x.length, scalar))
      return fail(env, true, fn, "this kernel has no float64 version (js computes it with V8's Math)"), nullptr;
  } else {
    ks.unary(static_cast<int>(op), x.data, out.data, x.length, scalar);
  }
  return undefined(env);
}

napi_value Unary(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!args(env, info, 5, argv, "unary")) return nullptr;
  return isFloat64Array(env, argv[1]) ? UnaryOf<double>(env, argv) : UnaryOf<float>(env, argv);
}

int64_t operandLength(int64_t mode, int64_t rows, int64_t cols) {
  switch (mode) {
    case tg::M_FULL: return rows * cols;
    case tg::M_ROW: return cols;
    case tg::M_COLUMN: return rows;
    default: return 1;
  }
}

// binary(op, a, aMode, b, bMode, out, rows, cols, flags): out may be a or b when they are
// full-size; Float32Arrays or Float64Arrays
template <typename T>
napi_value BinaryOf(napi_env env, napi_value* argv) {
  const char* fn = "binary";
  int64_t op, aMode, bMode, rows, cols, flags;
  Typed<T> a, b, out;
  if (!getInt(env, argv[0], fn, "op", &op) || !getTyped(env, argv[1], fn, "a", &a) || !getInt(env, argv[2], fn, "aMode", &aMode) ||
      !getTyped(env, argv[3], fn, "b", &b) || !getInt(env, argv[4], fn, "bMode", &bMode) || !getTyped(env, argv[5], fn, "out", &out) ||
      !getInt(env, argv[6], fn, "rows", &rows) || !getInt(env, argv[7], fn, "cols", &cols) || !getInt(env, argv[8], fn, "flags", &flags)) return nullptr;
  if (op >= tg::B_COUNT || aMode > tg::M_SCALAR || bMode > tg::M_SCALAR) return fail(env, true, fn, "unknown kernel or operand mode"), nullptr;
  const int64_t total = rows * cols, aLen = operandLength(aMode, rows, cols), bLen = operandLength(bMode, rows, cols);
  if (total == 0) return undefined(env);
  if (!needLength(env, fn, "a", a, aLen) || !needLength(env, fn, "b", b, bLen) || !needLength(env, fn, "out", out, total)) return nullptr;
  // in place is supported for a full-size operand that *is* out; any other overlap is not
  const bool aOk = !overlap(out.data, total, a.data, aLen) || (aMode == tg::M_FULL && a.data == out.data);
  const bool bOk = !overlap(out.data, total, b.data, bLen) || (bMode == tg::M_FULL && b.data == out.data);
  if (!aOk || !bOk) return fail(env, true, fn, "out overlaps an operand without being that operand"), nullptr;
  const tg::KernelSet& ks = tg::kernels(flags & FLAG_PORTABLE, flags & FLAG_AVX2_KERNELS);
  if constexpr (std::is_same_v<T, double>)
    ks.f64->binary(static_cast<int>(op), a.data, static_cast<int>(aMode), b.data, static_cast<int>(bMode), out.data, rows, cols);
  else
    ks.binary(static_cast<int>(op), a.data, static_cast<int>(aMode), b.data, static_cast<int>(bMode), out.data, rows, cols);
  return undefined(env);
}

napi_value Binary(napi_env env, napi_callback_info info) {
  napi_value argv[9];
  if (!args(env, info, 9, argv, "binary")) return nullptr;
  return isFloat64Array(env, argv[1]) ? BinaryOf<double>(env, argv) : BinaryOf<float>(env, argv);
}

// where(cond, cMode, a, aMode, b, bMode, out, rows, cols, flags): out = cond ≠ 0 ? a : b,
// all four Float64Arrays; out shares memory with none of them
napi_value Where(napi_env env, napi_callback_info info) {
  const char* fn = "where";
  napi_value argv[10];
  if (!args(env, info, 10, argv, fn)) return nullptr;
  int64_t cMode, aMode, bMode, rows, cols, flags;
  F64 c, a, b, out;
  if (!getTyped(env, argv[0], fn, "cond", &c) || !getInt(env, argv[1], fn, "cMode", &cMode) || !getTyped(env, argv[2], fn, "a", &a) ||
      !getInt(env, argv[3], fn, "aMode", &aMode) || !getTyped(env, argv[4], fn, "b", &b) || !getInt(env, argv[5], fn, "bMode", &bMode) ||
      !getTyped(env, argv[6], fn, "out", &out) || !getInt(env, argv[7], fn, "rows", &rows) || !getInt(env, argv[8], fn, "cols", &cols) ||
      !getInt(env, argv[9], fn, "flags", &flags)) return nullptr;
  if (cMode > tg::M_SCALAR || aMode > tg::M_SCALAR || bMode > tg::M_SCALAR) return fail(env, true, fn, "unknown operand mode"), nullptr;
  const int64_t total = rows * cols, cLen = operandLength(cMode, rows, cols), aLen = operandLength(aMode, rows, cols),
                bLen = operandLength(bMode, rows, cols);
  if (total == 0) return undefined(env);
  if (!needLength(env, fn, "cond", c, cLen) || !needLength(env, fn, "a", a, aLen) || !needLength(env, fn, "b", b, bLen) ||
      !needLength(env, fn, "out", out, total)) return nullptr;
  if (overlap(out.data, total, c.data, cLen) || overlap(out.data, total, a.data, aLen) || overlap(out.data, total, b.data, bLen))
    return fail(env, true, fn, "out must not share memory with its inputs"), nullptr;
  tg::kernels(flags & FLAG_PORTABLE, flags & FLAG_AVX2_KERNELS).f64->where(c.data, static_cast<int>(cMode), a.data, static_cast<int>(aMode), b.data, static_cast<int>(bMode),
                                                out.data, rows, cols);
  return undefined(env);
}

// sum(x, out, outer, mid, inner, flags[, run]): x seen as [outer, mid, inner], mid summed
// away; float64 with inner = 1 sums runs of `run` (the shape's last axis; default mid) as js does
template <typename T>
napi_value SumOf(napi_env env, napi_value* argv, bool hasRun) {
  const char* fn = "sum";
  Typed<T> x, out;
  int64_t outer, mid, inner, flags, run = 0;
  if (!getTyped(env, argv[0], fn, "x", &x) || !getTyped(env, argv[1], fn, "out", &out) || !getInt(env, argv[2], fn, "outer", &outer) ||
      !getInt(env, argv[3], fn, "mid", &mid) || !getInt(env, argv[4], fn, "inner", &inner) || !getInt(env, argv[5], fn, "flags", &flags) ||
      (hasRun && !getInt(env, argv[6], fn, "run", &run))) return nullptr;
  if (!hasRun) run = mid;
  if (!needLength(env, fn, "x", x, outer * mid * inner) || !needLength(env, fn, "out", out, outer * inner)) return nullptr;
  if (overlap(out.data, outer * inner, x.data, outer * mid * inner)) return fail(env, true, fn, "out must not share memory with x"), nullptr;
  const tg::KernelSet& ks = tg::kernels(flags & FLAG_PORTABLE, flags & FLAG_AVX2_KERNELS);
  if constexpr (std::is_same_v<T, double>) ks.f64->sum(x.data, out.data, outer, mid, inner, run);
  else if (inner == 1) ks.sumRows(x.data, out.data, outer, mid);
  else ks.sumMiddle(x.data, out.data, outer, mid, inner);
  return undefined(env);
}

napi_value Sum(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  size_t argc = 7;
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < 6) return fail(env, false, "sum", "expects 6 or 7 arguments"), nullptr;
  const bool hasRun = argc >= 7;
  return isFloat64Array(env, argv[0]) ? SumOf<double>(env, argv, hasRun) : SumOf<float>(env, argv, hasRun);
}

// extremum(max, x, out, outer, mid, inner, flags): x seen as [outer, mid, inner], mid reduced
// away by max (max true) or min, NaN winning as in js
template <typename T>
napi_value ExtremumOf(napi_env env, napi_value* argv) {
  const char* fn = "extremum";
  Typed<T> x, out;
  int64_t outer, mid, inner, flags;
  const bool max = getBool(env, argv[0]);
  if (!getTyped(env, argv[1], fn, "x", &x) || !getTyped(env, argv[2], fn, "out", &out) || !getInt(env, argv[3], fn, "outer", &outer) ||
      !getInt(env, argv[4], fn, "mid", &mid) || !getInt(env, argv[5], fn, "inner", &inner) || !getInt(env, argv[6], fn, "flags", &flags)) return nullptr;
  if (!needLength(env, fn, "x", x, outer * mid * inner) || !needLength(env, fn, "out", out, outer * inner)) return nullptr;
  if (overlap(out.data, outer * inner, x.data, outer * mid * inner)) return fail(env, true, fn, "out must not share memory with x"), nullptr;
  const tg::KernelSet& ks = tg::kernels(flags & FLAG_PORTABLE, flags & FLAG_AVX2_KERNELS);
  if constexpr (std::is_same_v<T, double>) ks.f64->extremum(max, x.data, out.data, outer, mid, inner);
  else ks.extremum(max, x.data, out.data, outer, mid, inner);
  return undefined(env);
}

napi_value Extremum(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  if (!args(env, info, 7, argv, "extremum")) return nullptr;
  return isFloat64Array(env, argv[1]) ? ExtremumOf<double>(env, argv) : ExtremumOf<float>(env, argv);
}

// subScaled(y, x, s, out, flags): out = y − s·x (float32: s rounded to float first); out may be y or x;
// FLAG_TWO_THREADS: half of it on the matmul worker
template <typename T>
napi_value SubScaledOf(napi_env env, napi_value* argv) {
  const char* fn = "subScaled";
  Typed<T> y, x, out;
  double s = 0;
  int64_t flags;
  if (!getTyped(env, argv[0], fn, "y", &y) || !getTyped(env, argv[1], fn, "x", &x) || !getTyped(env, argv[3], fn, "out", &out) ||
      !getInt(env, argv[4], fn, "flags", &flags)) return nullptr;
  getDouble(env, argv[2], &s);
  const int64_t n = out.length;
  if (!needLength(env, fn, "y", y, n) || !needLength(env, fn, "x", x, n)) return nullptr;
  if ((y.data != out.data && overlap(out.data, n, y.data, n)) || (x.data != out.data && overlap(out.data, n, x.data, n)))
    return fail(env, true, fn, "out overlaps y or x without being it"), nullptr;
  const tg::KernelSet& ks = tg::kernels(flags & FLAG_PORTABLE, flags & FLAG_AVX2_KERNELS);
  auto update = [&ks, s, y = y.data, x = x.data, out = out.data](int64_t from, int64_t to) {
    if constexpr (std::is_same_v<T, double>) ks.f64->subScaled(y + from, x + from, s, out + from, to - from);
    else ks.subScaled(y + from, x + from, static_cast<float>(s), out + from, to - from);
  };
  if (flags & FLAG_TWO_THREADS) {
    // a large parameter's update (T1's W¹, 100,352 values; backend.ts asks from
    // SPLIT_UPDATE_FROM values, as it decides matmul's split) in two halves, the second on the
    // matmul worker: each element's operations are the same, so are the bits
    const int64_t mid = n / 2 / 16 * 16;
    const uint64_t ticket = tg::postSideJob([update, mid, n] { update(mid, n); });
    update(0, mid);
    tg::waitSideJob(ticket);
  } else {
    update(0, n);
  }
  return undefined(env);
}

napi_value SubScaled(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!args(env, info, 5, argv, "subScaled")) return nullptr;
  return isFloat64Array(env, argv[0]) ? SubScaledOf<double>(env, argv) : SubScaledOf<float>(env, argv);
}

// The 14 numbers of a ConvGeometry from an Int32Array (N, C, H, W, kH, kW, strideH, strideW,
// padH, padW, dilationH, dilationW, outH, outW), checked so the kernels cannot leave their arrays:
// sizes ≥ 0, strides and dilations ≥ 1, and the sizes' product below 2³¹.
bool getGeometry(napi_env env, napi_value v, const char* fn, tg::ConvGeometry* g) {
  bool isTyped = false;
  napi_is_typedarray(env, v, &isTyped);
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  if (isTyped) napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr);
  if (!isTyped || type != napi_int32_array || length != 14) return fail(env, false, fn, "geometry must be an Int32Array of 14 numbers");
  const int32_t* q = static_cast<const int32_t*>(data);
  for (int i = 0; i < 14; i++) if (q[i] < 0) return fail(env, true, fn, "geometry has a negative entry");
  if (q[6] < 1 || q[7] < 1 || q[10] < 1 || q[11] < 1) return fail(env, true, fn, "strides and dilations must be at least 1");
  *g = {q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7], q[8], q[9], q[10], q[11], q[12], q[13]};
  const double image = double(g->N) * g->C * g->H * g->W, cols = double(g->N) * g->C * g->kH * g->kW * g->outH * g->outW;
  if (image >= 2147483648.0 || cols >= 2147483648.0) return fail(env, true, fn, "geometry is too large");
  return true;
}

// unfold(x, geometry, padValue, out, batched): Float32Arrays or Float64Arrays
template <typename T>
napi_value UnfoldOf(napi_env env, napi_value* argv) {
  const char* fn = "unfold";
  Typed<T> x, out;
  tg::ConvGeometry g;
  double padValue = 0;
  if (!getTyped(env, argv[0], fn, "x", &x) || !getGeometry(env, argv[1], fn, &g) || !getTyped(env, argv[3], fn, "out", &out)) return nullptr;
  getDouble(env, argv[2], &padValue);
  const int64_t image = g.N * g.C * g.H * g.W, cols = g.N * g.C * g.kH * g.kW * g.outH * g.outW;
  if (!needLength(env, fn, "x", x, image) || !needLength(env, fn, "out", out, cols)) return nullptr;
  if (overlap(out.data, cols, x.data, image)) return fail(env, true, fn, "out must not share memory with x"), nullptr;
  tg::unfold<T>(x.data, g, static_cast<T>(padValue), out.data, getBool(env, argv[4]));
  return undefined(env);
}

napi_value Unfold(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!args(env, info, 5, argv, "unfold")) return nullptr;
  return isFloat64Array(env, argv[0]) ? UnfoldOf<double>(env, argv) : UnfoldOf<float>(env, argv);
}

// fold(cols, geometry, out, batched): Float32Arrays or Float64Arrays
template <typename T>
napi_value FoldOf(napi_env env, napi_value* argv) {
  const char* fn = "fold";
  Typed<T> c, out;
  tg::ConvGeometry g;
  if (!getTyped(env, argv[0], fn, "cols", &c) || !getGeometry(env, argv[1], fn, &g) || !getTyped(env, argv[2], fn, "out", &out)) return nullptr;
  const int64_t image = g.N * g.C * g.H * g.W, cols = g.N * g.C * g.kH * g.kW * g.outH * g.outW;
  if (!needLength(env, fn, "cols", c, cols) || !needLength(env, fn, "out", out, image)) return nullptr;
  if (overlap(out.data, image, c.data, cols)) return fail(env, true, fn, "out must not share memory with cols"), nullptr;
  tg::fold<T>(c.data, g, out.data, getBool(env, argv[3]));
  return undefined(env);
}

napi_value Fold(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!args(env, info, 4, argv, "fold")) return nullptr;
  return isFloat64Array(env, argv[0]) ? FoldOf<double>(env, argv) : FoldOf<float>(env, argv);
}

// transpose(x, shape, perm, out): shape and perm Int32Arrays of one rank ≤ 16, perm a
// permutation; Float32Arrays or Float64Arrays
template <typename T>
napi_value TransposeOf(napi_env env, napi_value* argv) {
  const char* fn = "transpose";
  Typed<T> x, out;
  I32 shape, perm;
  if (!getTyped(env, argv[0], fn, "x", &x) || !getI32(env, argv[1], fn, "shape", &shape) || !getI32(env, argv[2], fn, "perm", &perm) ||
      !getTyped(env, argv[3], fn, "out", &out)) return nullptr;
  const long rank = static_cast<long>(shape.length);
  if (rank > 16 || perm.length != shape.length) return fail(env, true, fn, "shape and perm must have one rank ≤ 16"), nullptr;
  long dims[16], order[16];
  bool seen[16] = {false};
  int64_t size = 1;
  for (long a = 0; a < rank; a++) {
    if (shape.data[a] < 0 || perm.data[a] < 0 || perm.data[a] >= rank || seen[perm.data[a]]) return fail(env, true, fn, "bad shape or perm"), nullptr;
    seen[perm.data[a]] = true;
    dims[a] = shape.data[a];
    order[a] = perm.data[a];
    size *= dims[a];
  }
  if (size >= 2147483648LL) return fail(env, true, fn, "x is too large"), nullptr;
  if (!needLength(env, fn, "x", x, size) || !needLength(env, fn, "out", out, size)) return nullptr;
  if (overlap(out.data, size, x.data, size)) return fail(env, true, fn, "out must not share memory with x"), nullptr;
  tg::transpose<T>(x.data, dims, order, rank, out.data);
  return undefined(env);
}

napi_value Transpose(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!args(env, info, 4, argv, "transpose")) return nullptr;
  return isFloat64Array(env, argv[0]) ? TransposeOf<double>(env, argv) : TransposeOf<float>(env, argv);
}

// gather(x, outer, axisSize, inner, indices, out): out [outer, n, inner] = x [outer, axisSize,
// inner] at the n indices; Float32Arrays or Float64Arrays. Every index is checked first.
template <typename T>
napi_value GatherOf(napi_env env, napi_value* argv) {
  const char* fn = "gather";
  Typed<T> x, out;
  I32 indices;
  int64_t outer, axisSize, inner;
  if (!getTyped(env, argv[0], fn, "x", &x) || !getInt(env, argv[1], fn, "outer", &outer) || !getInt(env, argv[2], fn, "axisSize", &axisSize) ||
      !getInt(env, argv[3], fn, "inner", &inner) || !getI32(env, argv[4], fn, "indices", &indices) || !getTyped(env, argv[5], fn, "out", &out))
    return nullptr;
  const int64_t n = indices.length, size = outer * axisSize * inner, outSize = outer * n * inner;
  if (!needLength(env, fn, "x", x, size) || !needLength(env, fn, "out", out, outSize)) return nullptr;
  for (int64_t j = 0; j < n; j++) {
    if (indices.data[j] < 0 || indices.data[j] >= axisSize) {
      char what[160];
      std::snprintf(what, sizeof what, "indices[%lld] = %d is outside [0, %lld)", static_cast<long long>(j), indices.data[j], static_cast<long long>(axisSize));
      return fail(env, true, fn, what), nullptr;
    }
  }
  if (overlap(out.data, outSize, x.data, size)) return fail(env, true, fn, "out must not share memory with x"), nullptr;
  tg::gather<T>(x.data, outer, axisSize, inner, indices.data, n, out.data);
  return undefined(env);
}

napi_value Gather(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  if (!args(env, info, 6, argv, "gather")) return nullptr;
  return isFloat64Array(env, argv[0]) ? GatherOf<double>(env, argv) : GatherOf<float>(env, argv);
}

// gatherColumnsStart(x, rowLength, indices, out, flags) → ticket: out [rowLength, n] = rows
// `indices` of the row-major x [N, rowLength] as columns (core's columnSampler), on the
// background thread when flags has FLAG_TWO_THREADS, else now. Everything is checked here,
// before the job starts; the caller keeps x and out alive and untouched until
// backgroundWait(ticket) returns (the indices are copied). Ticket 0: already done.
template <typename T>
napi_value GatherColumnsStartOf(napi_env env, napi_value* argv) {
  const char* fn = "gatherColumnsStart";
  Typed<T> x, out;
  I32 indices;
  int64_t rowLength, flags;
  if (!getTyped(env, argv[0], fn, "x", &x) || !getInt(env, argv[1], fn, "rowLength", &rowLength) || !getI32(env, argv[2], fn, "indices", &indices) ||
      !getTyped(env, argv[3], fn, "out", &out) || !getInt(env, argv[4], fn, "flags", &flags))
    return nullptr;
  if (rowLength < 1 || x.length % rowLength != 0) return fail(env, true, fn, "rowLength must be a positive divisor of x's length"), nullptr;
  const int64_t rows = x.length / rowLength, n = indices.length, outSize = rowLength * n;
  if (!needLength(env, fn, "out", out, outSize)) return nullptr;
  for (int64_t j = 0; j < n; j++) {
    if (indices.data[j] < 0 || indices.data[j] >= rows) {
      char what[160];
      std::snprintf(what, sizeof what, "indices[%lld] = %d is outside [0, %lld)", static_cast<long long>(j), indices.data[j], static_cast<long long>(rows));
      return fail(env, true, fn, what), nullptr;
    }
  }
  if (overlap(out.data, outSize, x.data, x.length)) return fail(env, true, fn, "out must not share memory with x"), nullptr;
  const uint64_t ticket = tg::gatherColumnsStart(x.data, static_cast<long>(rowLength), indices.data, static_cast<long>(n), out.data,
                                                 std::is_same_v<T, double>, (flags & FLAG_TWO_THREADS) != 0);
  napi_value result;
  napi_create_double(env, static_cast<double>(ticket), &result);
  return result;
}

napi_value GatherColumnsStart(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!args(env, info, 5, argv, "gatherColumnsStart")) return nullptr;
  return isFloat64Array(env, argv[0]) ? GatherColumnsStartOf<double>(env, argv) : GatherColumnsStartOf<float>(env, argv);
}

// backgroundWait(ticket): returns once that job is done.
napi_value BackgroundWait(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!args(env, info, 1, argv, "backgroundWait")) return nullptr;
  double ticket = -1;
  napi_valuetype t;
  napi_typeof(env, argv[0], &t);
  if (t == napi_number) napi_get_value_double(env, argv[0], &ticket);
  if (!(ticket >= 0 && ticket <= 9007199254740991.0) || ticket != static_cast<double>(static_cast<uint64_t>(ticket)))
    return fail(env, false, "backgroundWait", "ticket must be what gatherColumnsStart returned"), nullptr;
  tg::backgroundWait(static_cast<uint64_t>(ticket));
  return undefined(env);
}

// maxPool(x, geometry, out)
napi_value MaxPool(napi_env env, napi_callback_info info) {
  const char* fn = "maxPool";
  napi_value argv[3];
  if (!args(env, info, 3, argv, fn)) return nullptr;
  F32 x, out;
  tg::ConvGeometry g;
  if (!getF32(env, argv[0], fn, "x", &x) || !getGeometry(env, argv[1], fn, &g) || !getF32(env, argv[2], fn, "out", &out)) return nullptr;
  const int64_t image = g.N * g.C * g.H * g.W, pooled = g.N * g.C * g.outH * g.outW;
  if (!needLength(env, fn, "x", x, image) || !needLength(env, fn, "out", out, pooled)) return nullptr;
  if (overlap(out.data, pooled, x.data, image)) return fail(env, true, fn, "out must not share memory with x"), nullptr;
  tg::maxPool(x.data, g, out.data);
  return undefined(env);
}

// maxPoolScatter(dy, x, geometry, out) and maxPoolGather(v, x, geometry, out)
napi_value MaxPoolPair(napi_env env, napi_callback_info info, bool scatter) {
  const char* fn = scatter ? "maxPoolScatter" : "maxPoolGather";
  napi_value argv[4];
  if (!args(env, info, 4, argv, fn)) return nullptr;
  F32 a, x, out;
  tg::ConvGeometry g;
  if (!getF32(env, argv[0], fn, scatter ? "dy" : "v", &a) || !getF32(env, argv[1], fn, "x", &x) || !getGeometry(env, argv[2], fn, &g) ||
      !getF32(env, argv[3], fn, "out", &out)) return nullptr;
  const int64_t image = g.N * g.C * g.H * g.W, pooled = g.N * g.C * g.outH * g.outW;
  const int64_t aSize = scatter ? pooled : image, outSize = scatter ? image : pooled;
  if (!needLength(env, fn, scatter ? "dy" : "v", a, aSize) || !needLength(env, fn, "x", x, image) || !needLength(env, fn, "out", out, outSize))
    return nullptr;
  if (overlap(out.data, outSize, a.data, aSize) || overlap(out.data, outSize, x.data, image))
    return fail(env, true, fn, "out must not share memory with its inputs"), nullptr;
  if (scatter) tg::maxPoolScatter(a.data, x.data, g, out.data);
  else tg::maxPoolGather(a.data, x.data, g, out.data);
  return undefined(env);
}

napi_value MaxPoolScatter(napi_env env, napi_callback_info info) { return MaxPoolPair(env, info, true); }
napi_value MaxPoolGather(napi_env env, napi_callback_info info) { return MaxPoolPair(env, info, false); }

// fmaPeakGflops(threads, seconds, float64)
napi_value FmaPeak(napi_env env, napi_callback_info info) {
  const char* fn = "fmaPeakGflops";
  napi_value argv[3];
  if (!args(env, info, 3, argv, fn)) return nullptr;
  int64_t threads;
  double seconds = 0.05;
  if (!getInt(env, argv[0], fn, "threads", &threads)) return nullptr;
  getDouble(env, argv[1], &seconds);
  if (threads < 1 || threads > 64) return fail(env, true, fn, "threads must be in [1, 64]"), nullptr;
  if (!(seconds > 0 && seconds <= 10)) seconds = 0.05;
  napi_value result;
  napi_create_double(env, tg::fmaPeakGflops(static_cast<int>(threads), seconds, getBool(env, argv[2])), &result);
  return result;
}

void setProperty(napi_env env, napi_value obj, const char* key, napi_value v) { napi_set_named_property(env, obj, key, v); }

// threadStats(): how the two-thread path has fared in this process
napi_value ThreadStatsJs(napi_env env, napi_callback_info) {
  const tg::ThreadStats s = tg::threadStats();
  napi_value obj, v;
  napi_create_object(env, &obj);
  const std::pair<const char*, double> fields[] = {{"twoThreadCalls", s.twoThreadCalls}, {"declined", s.declined}, {"backoffs", s.backoffs},
                                                   {"blocks", s.blocks}, {"workerBlocks", s.workerBlocks}};
  for (const auto& [key, value] : fields) {
    napi_create_double(env, value, &v);
    setProperty(env, obj, key, v);
  }
  return obj;
}

// features(): what this CPU and build run
napi_value Features(napi_env env, napi_callback_info) {
  napi_value obj, v;
  napi_create_object(env, &obj);
  napi_get_boolean(env, tg::cpuHasAvx2Fma(), &v);
  setProperty(env, obj, "avx2Fma", v);
  napi_get_boolean(env, tg::cpuHasAvx512f(), &v);
  setProperty(env, obj, "avx512f", v);
  const tg::KernelSet& ks = tg::kernels(false);
  napi_create_string_utf8(env, ks.name, NAPI_AUTO_LENGTH, &v);
  setProperty(env, obj, "kernel", v);
  napi_create_string_utf8(env, tg::kernels(false, true).name, NAPI_AUTO_LENGTH, &v);
  setProperty(env, obj, "avx2Kernel", v);
  napi_create_string_utf8(env, tg::scalarKernels.name, NAPI_AUTO_LENGTH, &v);
  setProperty(env, obj, "portableKernel", v);
  napi_create_uint32(env, static_cast<uint32_t>(tg::usableCores()), &v);
  setProperty(env, obj, "hardwareThreads", v);
  return obj;
}

}  // namespace

NAPI_MODULE_INIT() {
  const napi_property_descriptor props[] = {
      {"matmul", nullptr, Matmul, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"matmulBatched", nullptr, MatmulBatched, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"unary", nullptr, Unary, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"binary", nullptr, Binary, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sum", nullptr, Sum, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"extremum", nullptr, Extremum, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"subScaled", nullptr, SubScaled, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"where", nullptr, Where, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"unfold", nullptr, Unfold, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"fold", nullptr, Fold, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"transpose", nullptr, Transpose, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"gather", nullptr, Gather, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"gatherColumnsStart", nullptr, GatherColumnsStart, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"backgroundWait", nullptr, BackgroundWait, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"maxPool", nullptr, MaxPool, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"maxPoolScatter", nullptr, MaxPoolScatter, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"maxPoolGather", nullptr, MaxPoolGather, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"fmaPeakGflops", nullptr, FmaPeak, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"features", nullptr, Features, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"threadStats", nullptr, ThreadStatsJs, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
