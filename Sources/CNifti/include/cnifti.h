#ifndef CNIFTI_H
#define CNIFTI_H
/* Small, prefixed wrapper over libniftiio so Swift never sees nifti_image. */
const char *cnifti_library_version(void);
#endif
