;; GF(2^8) matrix × bytes kernel, WebAssembly SIMD (the ISA-L / klauspost split-nibble method).
;;
;; A product c·v of a coefficient c and a byte v is low_c[v & 15] ^ high_c[v >> 4], where low_c and
;; high_c are 16-entry tables; i8x16.swizzle looks up 16 bytes at once. The host lays out in memory:
;;   tables: per input j, the low and high tables of each output row (32 bytes per row and input),
;;   src:    k input rows of `len` bytes each, back to back (row j at src + j·len),
;;   dst:    the output rows, same stride.
;; `len` is a multiple of 16. Outputs are overwritten.
;; Regenerate kernel_wasm.ts with `deno task wasm`.
(module
  (memory (export "memory") 1)

  ;; Four output rows at once: 128 bytes of tables per input, four accumulators in registers.
  (func (export "mul4")
    (param $tbl i32) (param $k i32) (param $src i32) (param $dst i32) (param $len i32)
    (local $pos i32) (local $j i32) (local $t i32) (local $p i32) (local $o i32)
    (local $v v128) (local $lo v128) (local $hi v128) (local $mask v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local.set $mask (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $pos) (local.get $len)))
        (local.set $a0 (v128.const i64x2 0 0))
        (local.set $a1 (v128.const i64x2 0 0))
        (local.set $a2 (v128.const i64x2 0 0))
        (local.set $a3 (v128.const i64x2 0 0))
        (local.set $t (local.get $tbl))
        (local.set $p (i32.add (local.get $src) (local.get $pos)))
        (local.set $j (local.get $k))
        (loop $input
          (local.set $v (v128.load (local.get $p)))
          (local.set $lo (v128.and (local.get $v) (local.get $mask)))
          (local.set $hi (i8x16.shr_u (local.get $v) (i32.const 4)))
          (local.set $a0 (v128.xor (local.get $a0) (v128.xor
            (i8x16.swizzle (v128.load offset=0 (local.get $t)) (local.get $lo))
            (i8x16.swizzle (v128.load offset=16 (local.get $t)) (local.get $hi)))))
          (local.set $a1 (v128.xor (local.get $a1) (v128.xor
            (i8x16.swizzle (v128.load offset=32 (local.get $t)) (local.get $lo))
            (i8x16.swizzle (v128.load offset=48 (local.get $t)) (local.get $hi)))))
          (local.set $a2 (v128.xor (local.get $a2) (v128.xor
            (i8x16.swizzle (v128.load offset=64 (local.get $t)) (local.get $lo))
            (i8x16.swizzle (v128.load offset=80 (local.get $t)) (local.get $hi)))))
          (local.set $a3 (v128.xor (local.get $a3) (v128.xor
            (i8x16.swizzle (v128.load offset=96 (local.get $t)) (local.get $lo))
            (i8x16.swizzle (v128.load offset=112 (local.get $t)) (local.get $hi)))))
          (local.set $t (i32.add (local.get $t) (i32.const 128)))
          (local.set $p (i32.add (local.get $p) (local.get $len)))
          (br_if $input (local.tee $j (i32.sub (local.get $j) (i32.const 1)))))
        (local.set $o (i32.add (local.get $dst) (local.get $pos)))
        (v128.store (local.get $o) (local.get $a0))
        (local.set $o (i32.add (local.get $o) (local.get $len)))
        (v128.store (local.get $o) (local.get $a1))
        (local.set $o (i32.add (local.get $o) (local.get $len)))
        (v128.store (local.get $o) (local.get $a2))
        (local.set $o (i32.add (local.get $o) (local.get $len)))
        (v128.store (local.get $o) (local.get $a3))
        (local.set $pos (i32.add (local.get $pos) (i32.const 16)))
        (br $next))))

  ;; One output row: 32 bytes of tables per input.
  (func (export "mul1")
    (param $tbl i32) (param $k i32) (param $src i32) (param $dst i32) (param $len i32)
    (local $pos i32) (local $j i32) (local $t i32) (local $p i32)
    (local $v v128) (local $mask v128) (local $a0 v128)
    (local.set $mask (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $pos) (local.get $len)))
        (local.set $a0 (v128.const i64x2 0 0))
        (local.set $t (local.get $tbl))
        (local.set $p (i32.add (local.get $src) (local.get $pos)))
        (local.set $j (local.get $k))
        (loop $input
          (local.set $v (v128.load (local.get $p)))
          (local.set $a0 (v128.xor (local.get $a0) (v128.xor
            (i8x16.swizzle (v128.load offset=0 (local.get $t))
              (v128.and (local.get $v) (local.get $mask)))
            (i8x16.swizzle (v128.load offset=16 (local.get $t))
              (i8x16.shr_u (local.get $v) (i32.const 4))))))
          (local.set $t (i32.add (local.get $t) (i32.const 32)))
          (local.set $p (i32.add (local.get $p) (local.get $len)))
          (br_if $input (local.tee $j (i32.sub (local.get $j) (i32.const 1)))))
        (v128.store (i32.add (local.get $dst) (local.get $pos)) (local.get $a0))
        (local.set $pos (i32.add (local.get $pos) (i32.const 16)))
        (br $next)))))
