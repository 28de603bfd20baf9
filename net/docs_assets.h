// net/docs_assets.h: what GET /docs and GET /docs/{asset} serve. Swagger UI (npm's
// swagger-ui-dist at the version pinned in web/package.json) is embedded in the binary at build
// time, so /docs needs no network and no files at run time; when its files were missing at build
// time, /docs is a plain page that says so and lists the operations.
#pragma once

#include <string_view>

namespace ecom::net {

struct docs_asset {
  std::string_view name;          // as in /docs/<name>
  std::string_view content_type;  // a string literal
  std::string_view bytes;
};

// The HTML of GET /docs: Swagger UI when it is embedded, else the fallback page.
std::string_view docs_page_html();

// The asset served as /docs/<name>, or nullptr (also for every name when Swagger UI is absent).
const docs_asset* find_docs_asset(std::string_view name);

// swagger-ui-dist's version, or empty when it is not embedded.
std::string_view swagger_ui_version();

}  // namespace ecom::net
