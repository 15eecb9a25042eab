// Starts Swagger UI on the OpenAPI document this server serves. It lives in
// its own file so that the page's Content-Security-Policy can forbid inline
// scripts.
"use strict";
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  presets: [SwaggerUIBundle.presets.apis],
  deepLinking: true,
  displayOperationId: true,
  displayRequestDuration: true,
  // The online validator would send the spec to validator.swagger.io.
  validatorUrl: null,
  // A bearer token kept in localStorage outlives the tab; keep it in memory.
  persistAuthorization: false,
});
