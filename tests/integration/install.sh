#!/usr/bin/env bash
# cmake --install into a temporary prefix puts each file where the system
# looks for it (the module in the library dir, the p11-kit module file,
# systemd user units, the binaries), and `cpack -G DEB` builds a .deb with the
# same files under the configured prefix and its dependencies declared. The
# package is inspected, never installed.
source "$(dirname "$0")/lib.sh"
cache() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
prefix=$(cache CMAKE_INSTALL_PREFIX)
libdir=$(cache CMAKE_INSTALL_LIBDIR)
p11dir=$(cache VTOKEN_P11KIT_MODULE_DIR)
[ "${libdir#/}" = "$libdir" ] || libdir=${libdir#"$prefix"/}
dest=$scratch/prefix

check "cmake --install --prefix TMP" cmake --install "$build" --prefix "$dest"
for f in "$libdir/libvtoken-pkcs11.so" bin/vtokend bin/vtoken bin/vtoken-signing-service \
  lib/systemd/user/vtokend.socket lib/systemd/user/vtokend.service "$p11dir/vtoken.module"; do
  check "installed: $f" test -s "$dest/$f"
done
check "the module exports C_GetFunctionList" bash -c "nm -D --defined-only '$dest/$libdir/libvtoken-pkcs11.so' | grep -qw C_GetFunctionList"
check "the p11-kit file names the module at its installed path" \
  grep -qx "module: $prefix/$libdir/libvtoken-pkcs11.so" "$dest/$p11dir/vtoken.module"
check "the service starts the installed agent" grep -qx "ExecStart=$prefix/bin/vtokend --foreground" \
  "$dest/lib/systemd/user/vtokend.service"
check "the socket unit listens in the user's runtime dir" grep -qx "ListenStream=%t/vtoken/agent.sock" \
  "$dest/lib/systemd/user/vtokend.socket"
if [ "$prefix" = /usr ]; then
  check "prefix /usr: the module is in the multiarch library dir" test "$libdir" = "lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)"
  check "prefix /usr: the p11-kit file goes where p11-kit reads packages' files" \
    test "/usr/$p11dir" = "$(pkg-config p11-kit-1 --variable=p11_module_configs)"
fi

pkg=$scratch/pkg
check "cpack -G DEB" cpack -G DEB --config "$build/CPackConfig.cmake" -B "$pkg"
deb=$(ls "$pkg"/vtoken_*.deb 2>/dev/null | head -n1)
check "a .deb was made" test -n "$deb"
dpkg-deb -I "$deb" >"$work/info.txt" 2>&1
dpkg-deb -c "$deb" >"$work/contents.txt" 2>&1
sed 's/^/    /' "$work/info.txt" | grep -E "Package|Version|Architecture|Depends|Recommends"
expect_output "package name vtoken" "^ *Package: vtoken$" cat "$work/info.txt"
expect_output "Depends: the shared libraries (dpkg-shlibdeps: libc6, libssl3, libcurl)" \
  "^ *Depends: .*libc6.*" cat "$work/info.txt"
check "Depends names libssl3 and libcurl" bash -c "grep '^ *Depends:' '$work/info.txt' | grep -q libssl3 && grep '^ *Depends:' '$work/info.txt' | grep -q libcurl"
expect_output "Depends: p11-kit" "^ *Depends: .*p11-kit" cat "$work/info.txt"
expect_output "Recommends: pinentry and softhsm2" "^ *Recommends: .*pinentry.*softhsm2" cat "$work/info.txt"
for f in "$libdir/libvtoken-pkcs11.so" bin/vtokend bin/vtoken bin/vtoken-signing-service \
  lib/systemd/user/vtokend.socket lib/systemd/user/vtokend.service "$p11dir/vtoken.module"; do
  expect_output "in the package: $prefix/$f" " \\.$prefix/$f\$" cat "$work/contents.txt"
done
finish
