# Turns the file IN into a C source OUT defining openapi_doc[] and openapi_doc_len.
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT} "#include <stddef.h>\nconst char openapi_doc[] = {${bytes} 0};\nconst size_t openapi_doc_len = ${len};\n")
