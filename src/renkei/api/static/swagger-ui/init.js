// Renkei: starts Swagger UI on the OpenAPI document named by this script tag (no CDN, no
// validator badge: nothing leaves the server).
(function () {
  var script = document.currentScript;
  var url = (script && script.getAttribute("data-openapi-url")) || "/openapi.json";
  window.ui = SwaggerUIBundle({
    url: url,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    persistAuthorization: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
  });
})();
