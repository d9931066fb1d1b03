# Shared compile flags and the per-module library helper.

function(webtrunk_flags target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow -Wconversion -Wno-sign-conversion)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC 12 at -O3 reports -Wrestrict inside libstdc++'s std::string operator+ (GCC bug 105329).
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
  if(WEBTRUNK_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR})
endfunction()

if(WEBTRUNK_SANITIZE)
  add_compile_options(-fsanitize=${WEBTRUNK_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${WEBTRUNK_SANITIZE})
endif()

# Fuzz builds instrument every library for coverage, so libFuzzer sees the code under test.
if(WEBTRUNK_FUZZ)
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

# webtrunk_module(name PUBLIC_DEPS ...): a library from every .cpp in name/ except main.cpp.
function(webtrunk_module name)
  cmake_parse_arguments(M "" "" "PUBLIC_DEPS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/${name}/*.cpp)
  list(FILTER srcs EXCLUDE REGEX "/main\\.cpp$")
  if(srcs)
    add_library(webtrunk_${name} STATIC ${srcs})
    target_include_directories(webtrunk_${name} PUBLIC ${PROJECT_SOURCE_DIR})
    target_link_libraries(webtrunk_${name} PUBLIC ${M_PUBLIC_DEPS})
    webtrunk_flags(webtrunk_${name})
  else()
    add_library(webtrunk_${name} INTERFACE)
    target_include_directories(webtrunk_${name} INTERFACE ${PROJECT_SOURCE_DIR})
    target_link_libraries(webtrunk_${name} INTERFACE ${M_PUBLIC_DEPS})
  endif()
endfunction()
