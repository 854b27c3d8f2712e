# Turns a file into a C++ source defining `std::string_view <SYMBOL>()`, so the binary carries
# files such as openapi.yaml and does not depend on the source tree at run time.
# Usage: cmake -DINPUT=... -DOUTPUT=... -DSYMBOL=... -P embed_file.cmake
file(READ "${INPUT}" content HEX)
string(LENGTH "${content}" hex_length)
math(EXPR byte_count "${hex_length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${content}")
file(WRITE "${OUTPUT}.tmp"
  "// Generated from ${INPUT} by lib/embed_file.cmake; do not edit.\n"
  "#include <string_view>\n"
  "namespace raydeploy::embedded {\n"
  "static const unsigned char data[] = {${bytes} 0};\n"
  "std::string_view ${SYMBOL}() { return {reinterpret_cast<const char*>(data), ${byte_count}}; }\n"
  "}\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
