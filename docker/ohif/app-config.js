/*
 * OHIF Viewer (v3) configuration for the radiology workstation's DICOMweb endpoints.
 *
 * Served by docker/ohif/compose.yaml: nginx puts OHIF and the workstation on one origin, so
 * OHIF's requests to /dicomweb carry the workstation's session cookie (sign in at
 * /accounts/login/ first). Every study, image and AI result OHIF shows is audited as a view.
 */
window.config = {
  routerBasename: '/',
  extensions: [],
  modes: [],
  showStudyList: true,
  maxNumberOfWebWorkers: 3,
  showLoadingIndicator: true,
  defaultDataSourceName: 'radws',
  dataSources: [
    {
      namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
      sourceName: 'radws',
      configuration: {
        friendlyName: 'Radiology workstation (AI drafts: demonstration model, not for clinical use)',
        name: 'radws',
        // Same origin as the viewer (see nginx.conf); QIDO-RS and WADO-RS share the root.
        qidoRoot: '/dicomweb',
        wadoRoot: '/dicomweb',
        wadoUriRoot: '/dicomweb',
        // The server answers includefield, limit/offset, wildcards (* ?) and date ranges;
        // fuzzymatching is accepted and ignored (names always match case-insensitively).
        qidoSupportsIncludeField: true,
        supportsFuzzyMatching: false,
        supportsWildcard: true,
        supportsReject: false,
        // Frames come as multipart/related application/octet-stream (native, Explicit VR
        // Little Endian); metadata is series-level application/dicom+json.
        imageRendering: 'wadors',
        thumbnailRendering: 'wadors',
        enableStudyLazyLoad: true,
        staticWado: false,
        omitQuotationForMultipartRequest: true,
        // Pixel Data's BulkDataURI names the frames resource; OHIF fetches frames directly.
        bulkDataURI: { enabled: false },
      },
    },
  ],
};
