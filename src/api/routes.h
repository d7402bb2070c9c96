// The REST routes of corepind (docs/api.md): each one parses the request, calls the Controller
// and maps its answer to JSON. No logic of its own beyond that.
#pragma once

#include <httplib.h>

#include "controller/controller.h"

namespace corepin {

void RegisterRoutes(httplib::Server& server, Controller& controller);
// Linking and defragmentation (routes_links.cc); RegisterRoutes calls it.
void RegisterLinkRoutes(httplib::Server& server, Controller& controller);

}  // namespace corepin
