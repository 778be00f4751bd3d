#include <nifti1_io.h>
#include "cnifti.h"

const char *cnifti_library_version(void) { return "niftilib"; }
