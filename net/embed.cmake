# Writes a .cc that holds openapi.json and docs.html as string_views.
file(READ ${OPENAPI} openapi_text)
file(READ ${DOCS} docs_text)
file(WRITE ${OUT} "// Generated from net/openapi.json and net/docs.html; do not edit.\n#include <string_view>\nnamespace ecom::net {\n")
file(APPEND ${OUT} "extern const std::string_view openapi_document;\nextern const std::string_view docs_page;\n")
file(APPEND ${OUT} "const std::string_view openapi_document = R\"ecomdoc(${openapi_text})ecomdoc\";\n")
file(APPEND ${OUT} "const std::string_view docs_page = R\"ecomdoc(${docs_text})ecomdoc\";\n}\n")
