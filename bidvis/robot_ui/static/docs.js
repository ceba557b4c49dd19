// The robot's API documentation (staff only): Swagger UI over the robot's own OpenAPI schema.
"use strict";
window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui" });
