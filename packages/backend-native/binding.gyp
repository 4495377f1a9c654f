{
  "targets": [
    {
      "target_name": "tapegrad_native",
      "sources": [
        "src/native/addon.cc",
        "src/native/cpu.cc",
        "src/native/gemm.cc",
        "src/native/conv.cc",
        "src/native/indexing.cc",
        "src/native/background.cc",
        "src/native/kernels_scalar.cc",
        "src/native/kernels_avx2.cc",
        "src/native/kernels_avx512.cc"
      ],
      "defines": ["NAPI_VERSION=8"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++14"],
      "cflags": ["-O3", "-pthread", "-ffp-contract=off", "-fno-math-errno"],
      "cflags_cc": ["-O3", "-std=c++17", "-pthread", "-ffp-contract=off", "-fno-math-errno", "-fexceptions"],
      "ldflags": ["-pthread"]
    }
  ]
}
