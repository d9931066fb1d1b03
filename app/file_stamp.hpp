// What a file watch compares: the size and modification time of each file, in one string. A
// missing file stamps as 0:0, so its appearance is a change too.
#pragma once

#include <string>
#include <vector>

namespace webtrunk::app {

std::string file_stamp(const std::vector<std::string>& files);

}  // namespace webtrunk::app
