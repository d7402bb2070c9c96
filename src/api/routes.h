// The REST routes of corepind (docs/api.md): each one parses the request, calls the Controller
// and maps its answer to JSON. No logic of its own beyond that.
#pragma once

#include <httplib.h>

#include "api/router.h"
#include "controller/controller.h"
#include "driver/host_uri.h"

namespace corepin {

// `host_uris`: which host URIs POST /v1/hosts passes on (host_uri.h); the rest get 422.
void RegisterRoutes(Router& router, Controller& controller, const HostUriPolicy& host_uris);
// Linking and defragmentation (routes_links.cc); RegisterRoutes calls it.
void RegisterLinkRoutes(Router& router, Controller& controller);

}  // namespace corepin
