// Starts Swagger UI on /openapi.json. Served by ecomd as /docs/swagger-initializer.js; every
// request the page makes goes to this server (no validator badge, no other host).
window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
  displayRequestDuration: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
});
