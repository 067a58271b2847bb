#include <qrencode.h>

#include <memory>

#include "cli/cli.h"

namespace vtoken::service::cli {

std::string QrText(const std::string& text) {
  std::unique_ptr<QRcode, decltype(&QRcode_free)> qr(
      QRcode_encodeString(text.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, 1), QRcode_free);
  if (!qr) return {};
  const int n = qr->width, quiet = 2;
  auto dark = [&](int x, int y) {
    if (x < 0 || y < 0 || x >= n || y >= n) return false;
    return (qr->data[y * n + x] & 1) != 0;
  };
  // Light modules are drawn as blocks (like `qrencode -t UTF8`), so the code
  // reads on the usual dark terminal background.
  std::string out;
  for (int y = -quiet; y < n + quiet; y += 2) {
    for (int x = -quiet; x < n + quiet; ++x) {
      bool top = !dark(x, y), bottom = y + 1 < n + quiet ? !dark(x, y + 1) : false;
      out += top && bottom ? "\u2588" : top ? "\u2580" : bottom ? "\u2584" : " ";
    }
    out += '\n';
  }
  return out;
}

}  // namespace vtoken::service::cli
